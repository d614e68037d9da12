"""Placing populations on devices: the compile cache (`compile`) and the device mesh (`mesh`)."""
