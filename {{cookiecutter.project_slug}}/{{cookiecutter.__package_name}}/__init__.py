"""{{ cookiecutter.__package_name }}: training, serving and user interface of one model."""
