"""Locust user: POST /predict with the model's example row, checking each answer.

Interactive: `locust -f benchmarks/locustfile.py --host http://127.0.0.1:8000`; `make load` runs
it headless, bounded, with pass/fail thresholds (benchmarks/load.py).
"""

from locust import FastHttpUser, task


class Predict(FastHttpUser):
    """One client sending one row at a time, with no pause between requests."""

    def on_start(self):
        contract = self.client.get("/model").json()
        self.body = {"rows": [{f["name"]: f["default"] for f in contract["features"]}]}
        self.label = contract.get("example", {}).get("label")  # the trained model's answer

    @task
    def predict(self):
        with self.client.post("/predict", json=self.body, catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"status {response.status_code}")
            elif self.label and response.json()["predictions"][0]["label"] != self.label:
                response.failure(f"label {response.json()['predictions'][0]['label']!r}")
