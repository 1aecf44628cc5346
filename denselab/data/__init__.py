"""Data: sources (files, built-ins), synthetic 2-D sets, preparation, augmentation."""
