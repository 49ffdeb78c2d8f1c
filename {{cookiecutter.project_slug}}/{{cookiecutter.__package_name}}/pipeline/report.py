"""The data, gate and smoke verdicts as Markdown, for CI job pages (standard library only)."""

import json
import sys
from pathlib import Path


def data(report: dict) -> list[str]:
    lines = [
        "### Data: " + ("passed" if report["passed"] else "FAILED"),
        f"`{report['source']}`: {report['rows']} rows, {len(report['columns'])} columns",
        *(f"- {failure}" for failure in report["failures"]),
    ]
    if report["columns"]:
        lines += ["", "| column | type | missing |", "|---|---|---|"]
        lines += [f"| {c['name']} | {c['dtype']} | {c['missing']:.1%} |" for c in report["columns"]]
    if report.get("classes"):
        total = sum(report["classes"].values())
        lines += ["", f"| class of {report['target']} | rows | share |", "|---|---|---|"]
        lines += [
            f"| {name} | {count} | {count / total:.1%} |"
            for name, count in report["classes"].items()
        ]
    return lines


def gate(verdict: dict) -> list[str]:
    return [
        "### Gate: " + ("passed" if verdict["passed"] else "FAILED"),
        f"| held-out F1 ({verdict['f1_average']}) | ML_MIN_F1 | parity max diff | runtime |",
        "|---|---|---|---|",
        f"| {verdict['f1']:.4f} | {verdict['min_f1']} | {verdict['parity_max_diff']:.1e} "
        f"| {verdict['runtime']} |",
        *(f"- {failure}" for failure in verdict["failures"]),
    ]


def smoke(figures: dict) -> list[str]:
    return [
        "### Smoke: " + ("passed" if figures["passed"] else "FAILED"),
        "| requests | p50 ms | p95 ms | max ms | ML_MAX_LATENCY_MS | UI health |",
        "|---|---|---|---|---|---|",
        f"| {figures['requests']} | {figures['p50_ms']} | {figures['p95_ms']} "
        f"| {figures['max_ms']} | {figures['max_latency_ms']} | {figures['ui_health']} |",
    ]


SECTIONS = {
    "data": (data, "the data gate did not run"),
    "gate": (gate, "the gate did not run"),
    "smoke": (smoke, "the smoke test did not finish"),
}


def main(names: list[str]) -> int:
    for name in names or list(SECTIONS):
        render, missing = SECTIONS[name]
        path = Path("reports") / f"{name}.json"
        if path.is_file():
            print("\n".join(render(json.loads(path.read_text()))))
        else:
            print(f"### {name.capitalize()}\nno {path}: {missing}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
