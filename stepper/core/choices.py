"""The values each setting may take: here, apart from the classes that use them, so that the command line can
offer them without importing numpy (and `stepper solve` can start pdflatex first)."""

ROUNDING = ("carry", "full")
TERMS = ("nonzero", "all")
# How a convolution window over several channels is summed: a bracket and a subtotal per channel (as d2l), or
# one flat sum.
CHANNELS = ("grouped", "flat")
# How a transposed convolution is worked: scaled copies of the filter placed stride apart and added (d2l, U of
# Toronto), or the equivalent convolution of the input spread out with zeros.
TRANSPOSED = ("scatter", "convolution")
# What a stride that leaves cells over does: the floor formula drops them (PyTorch), or the problem is refused
# (CS231n's notes call such a stride invalid).
SIZE_RULES = ("floor", "exact")
MARK_PER = ("cell", "stage")
# Training ([train]): the loss a network's output is judged by, and where max pooling sends a tied window's
# gradient: to the first of the tied cells in reading order (PyTorch), or to every one of them (Ng's mask).
LOSSES = ("cross_entropy", "mse", "half_sse", "binary_cross_entropy")
TIES = ("first", "all")
