#!/usr/bin/env bash
# Checks the infrastructure code under deploy/:
#
#   1. cfn-lint on deploy/cloudformation/*.yaml (installed with pip if missing);
#   2. every IAM policy of the CloudFormation templates that names a file of
#      deploy/iam/ in its resource's Metadata `dynago-iam-mirror` holds the
#      same statements as that file (Sid, Effect, actions, resources, with
#      ${AWS::Partition}, ${AWS::Region}, ${AWS::AccountId} and ${TableName} read as the files'
#      ${partition}, ${region}, ${account} and ${table}), and every file of deploy/iam/ is
#      mirrored there (but those listed in NOT_DEPLOYED below); and the
#      excerpt of the event source mapping in docs/projections.md is the
#      template's;
#   3. deploy/terraform, parsed with python-hcl2 (installed with pip if
#      missing): every var., local., data. and resource reference is defined,
#      every templatefile() names a file that exists and gives each of its
#      placeholders, renders to JSON, and every file of deploy/iam/ is used
#      (but those in NOT_DEPLOYED);
#   4. `terraform fmt -check` and, when the hashicorp/aws provider can be
#      installed (from a provider mirror: TF_PLUGIN_DIR, else /opt/tf-plugins
#      or ~/.terraform.d/plugins when one holds it; else from the registry),
#      `terraform validate` on a copy of deploy/. Without terraform, or
#      without the provider, these are skipped with a note.
#
# Run from anywhere: scripts/check-deploy.sh. Exits non-zero on any finding.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
step() { printf '== %s\n' "$*" >&2; }
note() { printf '   %s\n' "$*" >&2; }

# Python packages: installed with pip when their module is missing.
need() {
    local package=$1 module=$2
    if ! "$python" -c "import $module" 2>/dev/null; then
        note "installing $package with pip"
        "$python" -m pip install -q --disable-pip-version-check "$package" >&2
    fi
}

need cfn-lint cfnlint
need python-hcl2 hcl2

shopt -s nullglob
templates=(deploy/cloudformation/*.yaml)
if ((${#templates[@]} == 0)); then
    echo "no template in deploy/cloudformation" >&2
    exit 1
fi

step "cfn-lint ${templates[*]}"
# The module rather than the cfn-lint command, which a fresh pip install may
# not have put on PATH yet.
"$python" -c 'import sys; from cfnlint.runner import main; sys.argv[0] = "cfn-lint"; sys.exit(main())' \
    "${templates[@]}"

step "IAM policies of the templates against deploy/iam/*.json; the excerpt in docs/projections.md"
"$python" - "${templates[@]}" <<'PY'
import glob
import json
import os
import sys

from cfnlint.decode import decode

# Files of deploy/iam/ that no template needs to mirror, and why.
NOT_DEPLOYED = {
    "deploy/iam/ledger-setup.json": "CreateTable: the templates create the tables",
}
# The template's names for the files' placeholders.
SUB = {
    "${AWS::Partition}": "${partition}",
    "${AWS::Region}": "${region}",
    "${AWS::AccountId}": "${account}",
    "${TableName}": "${table}",
}
LISTS = ("Action", "NotAction", "Resource", "NotResource")

errors = []


def plain(value, where):
    """The template's value as the files write it: Fn::Sub strings mapped."""
    if isinstance(value, dict):
        if list(value) == ["Fn::Sub"]:
            text = value["Fn::Sub"]
            if not isinstance(text, str):
                errors.append(f"{where}: Fn::Sub with variables cannot be compared; write it as one string")
                return "?"
            for template_name, file_name in SUB.items():
                text = text.replace(template_name, file_name)
            return text
        if any(key.startswith("Fn::") or key == "Ref" for key in value):
            errors.append(f"{where}: {json.dumps(value)} cannot be compared with a file; use !Sub")
            return "?"
        return {key: plain(item, where) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item, where) for item in value]
    return value


def statements(document, where):
    """{Sid: statement}, with its lists as sorted lists."""
    found = {}
    listed = document.get("Statement", [])
    if isinstance(listed, dict):
        listed = [listed]
    for number, statement in enumerate(listed):
        sid = statement.get("Sid")
        if not sid:
            errors.append(f"{where}: statement {number + 1} has no Sid")
            continue
        if sid in found:
            errors.append(f"{where}: two statements {sid}")
        normal = dict(statement)
        for key in LISTS:
            if key in normal:
                value = normal[key] if isinstance(normal[key], list) else [normal[key]]
                if len(set(map(str, value))) != len(value):
                    errors.append(f"{where}: statement {sid} names one {key} twice")
                normal[key] = sorted(map(str, value))
        found[sid] = normal
    return found


def compare(template_document, path, where):
    if not os.path.isfile(path):
        errors.append(f"{where}: mirrors {path}, which does not exist")
        return
    with open(path) as file:
        wanted = json.load(file)
    here = f"{where} (mirrors {path})"
    got = plain(template_document, here)
    if got.get("Version") != wanted.get("Version"):
        errors.append(f"{here}: Version {got.get('Version')!r}, the file has {wanted.get('Version')!r}")
    ours = statements(got, here)
    theirs = statements(wanted, path)
    for sid in theirs.keys() - ours.keys():
        errors.append(f"{here}: statement {sid} is missing")
    for sid in ours.keys() - theirs.keys():
        errors.append(f"{here}: statement {sid} is not in the file")
    for sid in sorted(ours.keys() & theirs.keys()):
        a, b = ours[sid], theirs[sid]
        for key in sorted(a.keys() | b.keys()):
            if a.get(key) == b.get(key):
                continue
            if key in LISTS:
                only_template = sorted(set(a.get(key, [])) - set(b.get(key, [])))
                only_file = sorted(set(b.get(key, [])) - set(a.get(key, [])))
                errors.append(
                    f"{here}: statement {sid}: {key} differs: only in the template {only_template}, only in the file {only_file}"
                )
            else:
                errors.append(f"{here}: statement {sid}: {key} is {a.get(key)!r} in the template, {b.get(key)!r} in the file")


mirrored = set()
for template_path in sys.argv[1:]:
    template, matches = decode(template_path)
    if template is None:
        errors.extend(f"{template_path}: {match}" for match in matches)
        continue
    for name, resource in (template.get("Resources") or {}).items():
        mirror = (resource.get("Metadata") or {}).get("dynago-iam-mirror")
        if mirror is None:
            continue
        kind = resource.get("Type")
        properties = resource.get("Properties") or {}
        where = f"{template_path}: {name}"
        if kind in ("AWS::IAM::ManagedPolicy", "AWS::IAM::Policy"):
            if not isinstance(mirror, str):
                errors.append(f"{where}: dynago-iam-mirror of a {kind} is one path")
                continue
            mirrored.add(mirror)
            compare(properties.get("PolicyDocument") or {}, mirror, where)
        elif kind == "AWS::IAM::Role":
            if not isinstance(mirror, dict):
                errors.append(f"{where}: dynago-iam-mirror of a role maps PolicyName to a path")
                continue
            policies = {policy.get("PolicyName"): policy for policy in properties.get("Policies") or []}
            for policy_name, path in mirror.items():
                mirrored.add(path)
                if policy_name not in policies:
                    errors.append(f"{where}: no inline policy {policy_name} (dynago-iam-mirror names it)")
                    continue
                compare(policies[policy_name].get("PolicyDocument") or {}, path, f"{where} policy {policy_name}")
        else:
            errors.append(f"{where}: dynago-iam-mirror on a {kind}")

for path in sorted(glob.glob("deploy/iam/*.json")):
    if path not in mirrored and path not in NOT_DEPLOYED:
        errors.append(
            f"{path}: no template mirrors it (add a policy with Metadata dynago-iam-mirror, or list it in NOT_DEPLOYED of scripts/check-deploy.sh)"
        )

# The excerpt of docs/projections.md: the ledger's event source mapping as
# the template has it.
EXCERPT_DOC, EXCERPT = "docs/projections.md", "ProjectionsMapping"
with open(EXCERPT_DOC) as file:
    blocks = file.read().split("```yaml\n")[1:]
shown = [block.split("```")[0] for block in blocks if block.startswith(f"{EXCERPT}:\n")]
ledger_template, _ = decode("deploy/cloudformation/ledger.yaml")
if len(shown) != 1:
    errors.append(f"{EXCERPT_DOC}: no one yaml block starting `{EXCERPT}:` ({len(shown)} found)")
elif ledger_template is not None:
    from cfnlint.decode import decode_str

    excerpt, matches = decode_str(shown[0])
    resource = (ledger_template.get("Resources") or {}).get(EXCERPT) or {}
    if excerpt is None:
        errors.append(f"{EXCERPT_DOC}: the block {EXCERPT} does not load: {matches}")
    else:
        if excerpt[EXCERPT].get("Type") != resource.get("Type"):
            errors.append(f"{EXCERPT_DOC}: the block {EXCERPT} has another Type than deploy/cloudformation/ledger.yaml")
        shown_properties = excerpt[EXCERPT].get("Properties") or {}
        properties = resource.get("Properties") or {}
        for key in sorted(shown_properties.keys() | properties.keys()):
            if shown_properties.get(key) != properties.get(key):
                errors.append(
                    f"{EXCERPT_DOC}: the block {EXCERPT} differs from deploy/cloudformation/ledger.yaml in {key}: "
                    f"{json.dumps(shown_properties.get(key))} against {json.dumps(properties.get(key))}"
                )

if errors:
    print("\n".join(errors), file=sys.stderr)
    sys.exit(1)
print(f"   {len(mirrored)} policies equal to their files; {EXCERPT_DOC} shows {EXCERPT} as it is", file=sys.stderr)
PY

step "deploy/terraform: references and templatefile() (python-hcl2)"
"$python" - deploy/terraform <<'PY'
import glob
import json
import os
import re
import sys

import hcl2

NOT_DEPLOYED = {"deploy/iam/ledger-setup.json"}

module = sys.argv[1]
errors = []
variables, locals_, resources, data, iterators = set(), {}, set(), set(), set()
expressions = []  # (file, text)


def unquote(name):
    return name.strip('"')


def walk(value, file):
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "dynamic" and isinstance(item, list):
                for block in item:
                    for name, body in block.items():
                        iterators.add(unquote(name))
                        walk(body, file)
                continue
            walk(item, file)
    elif isinstance(value, list):
        for item in value:
            walk(item, file)
    elif isinstance(value, str) and "${" in value:
        expressions.append((file, value))


files = sorted(glob.glob(os.path.join(module, "*.tf")))
if not files:
    errors.append(f"{module}: no .tf file")
for path in files:
    with open(path) as handle:
        try:
            body = hcl2.load(handle)
        except Exception as error:  # the parser's own errors
            errors.append(f"{path}: does not parse: {error}")
            continue
    for block in body.get("variable", []):
        variables.update(unquote(name) for name in block if not name.startswith("__"))
    for block in body.get("locals", []):
        locals_.update({name: value for name, value in block.items() if not name.startswith("__")})
    for block in body.get("resource", []):
        for kind, named in block.items():
            resources.update(f"{unquote(kind)}.{unquote(name)}" for name in named if not name.startswith("__"))
    for block in body.get("data", []):
        for kind, named in block.items():
            data.update(f"{unquote(kind)}.{unquote(name)}" for name in named if not name.startswith("__"))
    walk(body, path)

for path, text in expressions:
    for name in re.findall(r"(?<![\w.])var\.(\w+)", text):
        if name not in variables:
            errors.append(f"{path}: var.{name} is not declared")
    for name in re.findall(r"(?<![\w.])local\.(\w+)", text):
        if name not in locals_:
            errors.append(f"{path}: local.{name} is not defined")
    for kind, name in re.findall(r"(?<![\w.])data\.(\w+)\.(\w+)", text):
        if f"{kind}.{name}" not in data:
            errors.append(f"{path}: data.{kind}.{name} is not defined")
    for kind, name in re.findall(r"(?<![\w.])(aws_\w+)\.(\w+)", text):
        if f"{kind}.{name}" not in resources:
            errors.append(f"{path}: resource {kind}.{name} is not defined")
    for name in re.findall(r"(?<![\w.])(\w+)\.value\b", text):
        if name not in iterators and name not in ("each",):
            errors.append(f"{path}: {name}.value names no dynamic block")

used = set()
for path, text in expressions:
    for file_expr, vars_expr in re.findall(r'templatefile\(\s*"([^"]*)"\s*,\s*([^)]*?)\s*\)', text):
        if "${path.module}" not in file_expr or file_expr.replace("${path.module}", "").count("${"):
            errors.append(f"{path}: templatefile({file_expr}): write the path as \"${{path.module}}/...\"")
            continue
        target = os.path.normpath(file_expr.replace("${path.module}", module))
        used.add(target)
        if not os.path.isfile(target):
            errors.append(f"{path}: templatefile({file_expr}): {target} does not exist")
            continue
        match = re.fullmatch(r"local\.(\w+)", vars_expr)
        if match and isinstance(locals_.get(match.group(1)), dict):
            given = set(locals_[match.group(1)])
        else:
            given = set(re.findall(r"(\w+)\s*=", vars_expr))
            if not vars_expr.lstrip().startswith("{"):
                errors.append(f"{path}: templatefile({file_expr}, {vars_expr}): give its variables as a local object or an object literal")
                continue
        with open(target) as handle:
            template = handle.read()
        wanted = set(re.findall(r"(?<!\$)\$\{\s*([A-Za-z_]\w*)\s*\}", template))
        others = re.findall(r"(?<!\$)[$%]\{(?!\s*[A-Za-z_]\w*\s*\})[^}]*\}", template)
        if others:
            errors.append(f"{target}: template syntax beyond ${{name}}: {others}")
        missing = wanted - given
        if missing:
            errors.append(f"{path}: templatefile({file_expr}) gives no {sorted(missing)}")
        rendered = re.sub(r"(?<!\$)\$\{\s*([A-Za-z_]\w*)\s*\}", lambda m: f"X{m.group(1)}", template)
        try:
            json.loads(rendered)
        except ValueError as error:
            errors.append(f"{target}: not JSON once rendered: {error}")

for path in sorted(glob.glob("deploy/iam/*.json")):
    if path not in used and path not in NOT_DEPLOYED:
        errors.append(f"{path}: no templatefile() of {module} uses it")

if errors:
    print("\n".join(errors), file=sys.stderr)
    sys.exit(1)
print(
    f"   {len(files)} files: {len(resources)} resources, {len(data)} data sources, {len(variables)} variables, "
    f"{len(used)} policy files from deploy/iam",
    file=sys.stderr,
)
PY

if ! command -v terraform >/dev/null; then
    step "terraform fmt, validate: skipped (no terraform on PATH)"
    exit 0
fi

# A TF_CLI_CONFIG_FILE naming no file only makes terraform warn.
if [[ -n ${TF_CLI_CONFIG_FILE:-} && ! -e $TF_CLI_CONFIG_FILE ]]; then
    unset TF_CLI_CONFIG_FILE
fi
export TF_IN_AUTOMATION=1 CHECKPOINT_DISABLE=1

step "terraform fmt -check -recursive deploy/terraform"
terraform fmt -check -recursive -diff -no-color deploy/terraform

# A provider mirror when one holds hashicorp/aws, else the registry.
# TF_PLUGIN_DIR set (empty: the registry only) replaces the places searched.
mirror=
if [[ -n ${TF_PLUGIN_DIR+set} ]]; then
    places=("$TF_PLUGIN_DIR")
else
    places=(/opt/tf-plugins "$HOME/.terraform.d/plugins")
fi
for dir in "${places[@]}"; do
    if [[ -n $dir && -d $dir/registry.terraform.io/hashicorp/aws ]]; then
        mirror=$dir
        break
    fi
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# A copy of the .tf files, so that .terraform/ and the lock file stay out of
# the tree (and a local init's stay out of the check); with deploy/iam beside
# it for templatefile().
mkdir -p "$work/deploy/terraform"
cp -r deploy/iam "$work/deploy/"
cp deploy/terraform/*.tf "$work/deploy/terraform/"
init=(terraform -chdir="$work/deploy/terraform" init -backend=false -input=false -no-color)
if [[ -n $mirror ]]; then
    init+=(-plugin-dir="$mirror")
fi
if ! "${init[@]}" >"$work/init.log" 2>&1; then
    step "terraform validate: skipped, the hashicorp/aws provider cannot be installed${mirror:+ from $mirror} (set TF_PLUGIN_DIR to a provider mirror):"
    grep -v '^\s*$' "$work/init.log" | sed 's/^/   /' | head -8 >&2
    exit 0
fi
step "terraform validate (hashicorp/aws $(sed -n 's/.*Installed hashicorp\/aws v\([0-9.]*\).*/\1/p' "$work/init.log" | head -1)${mirror:+, from $mirror})"
terraform -chdir="$work/deploy/terraform" validate -no-color
