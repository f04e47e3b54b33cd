"""Synthesis back-ends behind one small protocol (see ``base.Backend``)."""
