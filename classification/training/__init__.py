"""Pure numpy/scikit-learn training core: spatial folds, training, hard voting, frugality, table hashing.

No Django import here: the services in `classification.services` call these functions.
"""
