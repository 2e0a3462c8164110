"""BASELINE, NOT PRODUCT CODE: the reference lab's serving path, reproduced for comparison only."""
