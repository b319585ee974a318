"""Derive wire field lists from the swagger-generated Octopus client, as data.

Input: the `octopus-deploy-swagger-client==1.1.0` wheel, a client generated from the
server's own swagger document (2020), unpacked in a scratch folder outside the repo:

    pip download --no-deps octopus-deploy-swagger-client==1.1.0 -d /tmp/swag
    cd /tmp/swag && python -m zipfile -e octopus_deploy_swagger_client-1.1.0-py3-none-any.whl w
    python tools/derive_swagger_fields.py /tmp/swag/w

Output: `tests/contracts/swagger_fields.json`: for each model class, its JSON field names
(`attribute_map` values) and swagger types (`swagger_types` values). Only the models'
declared data is read (with `ast`, nothing is imported or copied).
"""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

OUTPUT = Path(__file__).resolve().parent.parent / "tests" / "contracts" / "swagger_fields.json"


def _dict_literal(node: ast.ClassDef, name: str) -> dict[str, str]:
    for statement in node.body:
        if (
            isinstance(statement, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == name for t in statement.targets)
            and isinstance(statement.value, ast.Dict)
        ):
            value = ast.literal_eval(statement.value)
            if isinstance(value, dict):
                return {str(k): str(v) for k, v in value.items()}
    return {}


def derive(root: Path) -> dict[str, object]:
    models: dict[str, object] = {}
    for path in sorted((root / "octopus_deploy_swagger_client" / "models").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if not isinstance(node, ast.ClassDef):
                continue
            attributes = _dict_literal(node, "attribute_map")
            types = _dict_literal(node, "swagger_types")
            if attributes:
                models[node.name] = {
                    "file": f"octopus_deploy_swagger_client/models/{path.name}",
                    "fields": {attributes[k]: types.get(k, "object") for k in sorted(attributes)},
                }
    return {
        "_source": "octopus-deploy-swagger-client==1.1.0 (PyPI)",
        "_generated_by": "tools/derive_swagger_fields.py",
        "models": dict(sorted(models.items())),
    }


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    data = derive(Path(argv[1]))
    OUTPUT.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {OUTPUT} ({len(data['models'])} models)")  # type: ignore[arg-type]
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
