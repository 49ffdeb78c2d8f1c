"""The Streamlit front end: features in, the API's prediction out (UI owner)."""

import httpx
import streamlit as st

from {{ cookiecutter.__package_name }}.settings import PROJECT_NAME, get_settings

# What a call to the API can end in besides an answer: no connection, an error status, or a body
# that is not the expected JSON (a proxy's page, another service on the port).
API_FAULTS = (httpx.HTTPError, ValueError, LookupError, TypeError)


def api_error(exc: Exception) -> str:
    """A sentence for a person, not a traceback."""
    if isinstance(exc, httpx.HTTPStatusError):
        try:
            detail = exc.response.json().get("detail", exc.response.text)
        except (ValueError, AttributeError):  # a proxy's HTML page, or JSON that is not an object
            detail = exc.response.text[:200]
        if isinstance(detail, list):
            detail = "; ".join(f"{e['loc'][-1]}: {e['msg']}" for e in detail)
        return f"The API refused the request ({exc.response.status_code}): {detail}"
    if isinstance(exc, httpx.HTTPError):
        return f"The API at {api_url} cannot be reached ({exc}). Is it running? Try `make serve`."
    return f"The API at {api_url} answered, but not this API's JSON ({exc!r}). Is ML_API_URL right?"


def feature_input(feature: dict, column):
    """A select box for a category, a number input within the trained range for a number."""
    if feature["kind"] == "category":
        values = feature["values"]
        return column.selectbox(feature["name"], values, index=values.index(feature["default"]))
    return column.number_input(
        feature["name"],
        min_value=float(feature["min"]),
        max_value=float(feature["max"]),
        value=float(feature["default"]),
        format="%.4f",
    )


st.set_page_config(page_title=PROJECT_NAME, layout="wide")
st.title(PROJECT_NAME)
api_url = get_settings().api_url.rstrip("/")

try:
    contract = httpx.get(f"{api_url}/model", timeout=5).raise_for_status().json()
    features = contract["features"]
except API_FAULTS as exc:
    st.error(api_error(exc))
    st.stop()

st.caption(
    f"Model {contract['model_name']} version {contract['model_version']} "
    f"({contract['model']} on {contract['dataset']}, served by {contract['runtime']})"
)


with st.form("features"):
    columns = st.columns(3)
    row = {
        feature["name"]: feature_input(feature, columns[i % 3])
        for i, feature in enumerate(features)
    }
    submitted = st.form_submit_button("Predict", type="primary")

if submitted:
    try:
        response = httpx.post(f"{api_url}/predict", json={"rows": [row]}, timeout=5)
        prediction = response.raise_for_status().json()["predictions"][0]
    except API_FAULTS as exc:
        st.error(api_error(exc))
    else:
        st.metric("Predicted class", prediction["label"])
        probabilities = prediction["probabilities"]
        st.bar_chart(
            {"class": list(probabilities), "probability": list(probabilities.values())},
            x="class",
            y="probability",
        )
