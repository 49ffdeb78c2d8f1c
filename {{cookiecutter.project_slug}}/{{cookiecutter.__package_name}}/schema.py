"""Your table's schema: `make validate` enforces it; the contract, the API and the UI follow it."""

import math

import pandera.pandas as pa

# A table with fewer rows than this cannot give a held-out F1 worth gating on.
MIN_ROWS = 100


def missing_at_most(share: float) -> pa.Check:
    return pa.Check(
        lambda column: column.isna().mean() <= share,
        element_wise=False,
        ignore_na=False,
        name=f"at most {share:.0%} missing",
    )


def number(low: float = -math.inf, high: float = math.inf, max_missing: float = 0.0) -> pa.Column:
    """A numeric column: every value in [low, high], at most `max_missing` of them missing."""
    checks = [pa.Check.in_range(low, high), missing_at_most(max_missing)]
    return pa.Column(float, checks, nullable=True, coerce=True)


def category(*values: str, max_missing: float = 0.0) -> pa.Column:
    """A categorical column: every value one of `values`, at most `max_missing` missing."""
    return pa.Column(str, [pa.Check.isin(values), missing_at_most(max_missing)], nullable=True)


{%- if cookiecutter.dataset == "csv" %}


# One entry per column of the table at ML_DATA_PATH, target (ML_TARGET) included: a column that
# is not declared here, or declared and absent, fails `make validate`. For the target, the values
# are its classes, in the order the API lists their probabilities.
COLUMNS = {
    "species": category("Adelie", "Chinstrap", "Gentoo"),
    "island": category("Biscoe", "Dream", "Torgersen"),
    "bill_length_mm": number(30, 65, max_missing=0.05),
    "bill_depth_mm": number(12, 23, max_missing=0.05),
    "flipper_length_mm": number(170, 235, max_missing=0.05),
    "body_mass_g": number(2500, 6500, max_missing=0.05),
    "sex": category("female", "male", max_missing=0.05),
    "year": number(2007, 2009),
}
{%- else %}


# Declare your own table here, one entry per column (see the README, "Bring your own data"), then
# train on it with ML_DATASET=csv, ML_DATA_PATH and ML_TARGET. The tables bundled with
# scikit-learn are declared by bundled() below.
COLUMNS: dict[str, pa.Column] = {}
{%- endif %}


def bundled(features: list[str], target: str, classes: list[str]) -> dict[str, pa.Column]:
    """The schema of a table bundled with scikit-learn: numbers, none missing, named classes."""
    return {**{name: number() for name in features}, target: category(*classes)}
