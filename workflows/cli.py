"""``em2exm workflow render|lint|submit pipeline.yaml``: the pipeline as Argo Workflows."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from em2exm.errors import UserError
from em2exm.stagekit import _Parser
from hera.workflows import WorkflowsService

from workflows import render, schema, submit
from workflows.settings import load


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="em2exm workflow", description="The pipeline as Argo Workflows: render, lint or submit it.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="render|lint|submit")
    for name, help_text in (
        ("render", "write the WorkflowTemplates and the Workflow as YAML files"),
        ("lint", "render and validate every manifest against the Argo schema (strict)"),
        ("submit", "submit the Workflow to an Argo server"),
    ):
        command = commands.add_parser(name, help=help_text, description=help_text)
        command.add_argument("config", help="pipeline YAML (its 'argo' section configures the backend)")
        command.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
        command.add_argument("--log-level", default="INFO")
    render_cmd, lint_cmd, submit_cmd = (commands.choices[n] for n in ("render", "lint", "submit"))
    render_cmd.add_argument("-o", "--output", required=True, help="folder for the YAML files")
    lint_cmd.add_argument("--schema", type=Path, default=schema.DEFAULT_SCHEMA, help="Argo JSON schema file")
    submit_cmd.add_argument("--host", required=True, help="Argo server URL, e.g. https://argo.example.org:2746")
    submit_cmd.add_argument("--namespace", help="namespace (default: argo.namespace of the config)")
    submit_cmd.add_argument("--token-env", metavar="VAR", help="environment variable holding the token (default ARGO_TOKEN, optional)")
    submit_cmd.add_argument("--templates", action="store_true", help="create or update the stage WorkflowTemplates first")
    submit_cmd.add_argument("--wait", action="store_true", help="follow the workflow until it finishes")
    submit_cmd.add_argument("--poll", type=float, default=10.0, metavar="SECONDS", help="status poll interval with --wait")
    submit_cmd.add_argument("--insecure", action="store_true", help="do not verify the server's TLS certificate")
    return parser


def _lint(manifests: render.Manifests, schema_path: Path) -> None:
    problems = [
        f"{doc['kind']} {doc['metadata'].get('name') or doc['metadata'].get('generateName')}: {error}"
        for doc in manifests.documents()
        for error in schema.errors(doc, schema_path)
    ]
    if problems:
        print("\n".join(problems), file=sys.stderr)
        raise UserError(f"{len(problems)} schema violation(s) in the rendered manifests", "fix the 'argo' settings named above")
    print(f"{len(manifests.documents())} manifests valid against {schema_path.name} (strict)")


def _submit(manifests: render.Manifests, args: argparse.Namespace, namespace: str) -> None:
    token = os.environ.get(args.token_env or "ARGO_TOKEN")
    if token is None and args.token_env:
        raise UserError(f"environment variable {args.token_env} is not set", f"export {args.token_env}=<token> or drop --token-env")
    service = WorkflowsService(host=args.host, token=token, namespace=namespace, verify_ssl=not args.insecure)
    name = submit.submit(manifests, service, args.templates)
    print(f"submitted {namespace}/{name}")
    if args.wait:
        phase = submit.follow(service, name, namespace, args.poll)
        print(f"{name}: {phase}")
        if phase != "Succeeded":
            raise SystemExit(1)


def main(argv: Sequence[str]) -> None:
    """Entry point of ``em2exm workflow``."""
    args = _parser().parse_args(argv)
    config, settings, _ = load(args.config, args.set)
    if args.command == "submit" and args.namespace:
        settings.namespace = args.namespace
    manifests = render.build(config, settings)
    if args.command == "render":
        for path in render.write(manifests, Path(args.output)):
            print(path)
    elif args.command == "lint":
        _lint(manifests, args.schema)
    else:
        _submit(manifests, args, settings.namespace)
