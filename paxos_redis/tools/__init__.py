"""Tools on top of everything: the command line, the demo, the benchmark, and the local
parliament they (and the tests) start.  Nothing in the package imports them.
"""
