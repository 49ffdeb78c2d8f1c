"""The data: a dataset bundled with scikit-learn, split the same way for training and the gate."""

from dataclasses import dataclass

import numpy as np
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.model_selection import train_test_split

LOADERS = {"breast_cancer": load_breast_cancer, "wine": load_wine}


@dataclass
class Data:
    """A bundled scikit-learn dataset split into train and held-out parts."""

    X_train: np.ndarray
    X_test: np.ndarray
    y_train: np.ndarray
    y_test: np.ndarray
    features: list[str]
    classes: list[str]


def load_data(dataset: str, test_size: float, seed: int) -> Data:
    """Load a dataset that ships with scikit-learn and split it, stratified, with a fixed seed."""
    bunch = LOADERS[dataset]()
    X_train, X_test, y_train, y_test = train_test_split(
        bunch.data, bunch.target, test_size=test_size, stratify=bunch.target, random_state=seed
    )
    return Data(
        X_train,
        X_test,
        y_train,
        y_test,
        features=[str(name) for name in bunch.feature_names],
        classes=[str(name) for name in bunch.target_names],
    )
