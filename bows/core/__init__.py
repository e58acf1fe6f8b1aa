"""The bottom layer: word lists (``groups``), vector geometry (``geometry``) and label-free structure
discovery (``discovery``): pure maths that the data stages, training and the analyses all use."""
