"""The fixture model of the API and UI owners' tests keeps the shape of what `make train` writes:
when training changes the contract, this training owner's test says what the fixture must follow."""

from {{ cookiecutter.__package_name }} import serving
from {{ cookiecutter.__package_name }}.settings import RUNTIME


def feature_shapes(contract: dict) -> list:
    return [(f["name"], f["kind"], sorted(f)) for f in contract["features"]]


def test_the_fixture_model_has_the_files_and_contract_of_a_trained_one(training_run, fixture_model):
    trained, fixture = training_run.contract, fixture_model.contract
    assert sorted(fixture) == sorted(trained)
    assert feature_shapes(fixture) == feature_shapes(trained)
    assert fixture["classes"] == trained["classes"]
    assert sorted(fixture["example"]) == sorted(trained["example"])
    assert list(fixture["example"]["row"]) == list(trained["example"]["row"])
    files = sorted(p.name for p in fixture_model.model_dir.iterdir())
    assert files == sorted(p.name for p in training_run.model_dir.iterdir())


def test_the_served_fixture_model_gives_the_example_its_label(fixture_model):
    contract, model = serving.load(fixture_model.model_dir, RUNTIME)
    row = contract["example"]["row"]
    [probabilities] = model.predict_proba([[row[f["name"]]] for f in contract["features"]])
    assert contract["classes"][probabilities.argmax()] == contract["example"]["label"]
