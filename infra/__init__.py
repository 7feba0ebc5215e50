"""Switchboard's AWS deployment (CDK): constructs per concern, stacks per deployment unit."""
