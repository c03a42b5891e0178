"""The investigator service of Rampart."""
