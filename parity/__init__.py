"""Parity with the original C program: fixtures, replay and live harness."""
