"""The README each target writes: what is in the folder and the exact commands that deploy
it. Prose, so f-strings; the commands name the app so they can be pasted as they are."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from faaskit.packaging.defaults import LAMBDA_POOL_SIZE, PYTHON, SHARED_POOL_SIZE, environment
from faaskit.packaging.distribution import faaskit_version

if TYPE_CHECKING:
    from faaskit.app import App
    from faaskit.packaging.aws_sam import SamOptions

__all__ = ["aws_readme", "azure_readme", "gcp_readme"]

SWEEP = json.dumps({"faaskit": "sweep"}, separators=(",", ":"))


def _faaskit_note(folder: str, extra: str) -> str:
    where = f"`{folder}`" if folder != "." else "this folder"
    return f"""\
## How faaskit gets in

faaskit is not on PyPI yet, so {where} holds a copy of the faaskit package that wrote it
(faaskit {faaskit_version()}, `faaskit/`) next to the app's own code, and
`requirements.txt` lists faaskit's dependencies with the `{extra}` extra's, so the
platform's ordinary build installs everything from PyPI and the folder deploys as it is.
Once faaskit is published, `faaskit[{extra}]=={faaskit_version()}` in `requirements.txt`
replaces both.
"""


def aws_readme(app: App, options: SamOptions, *, worker: bool) -> str:
    """The README of a SAM application."""
    stack = f"{app.name}-faaskit"
    secret = f"{app.name}/faaskit"
    api = "a REST API (every media type binary)" if options.api == "rest" else "an HTTP API"
    messaging = (
        """- `WorkerFunction`: the relay queue's batches (`ReportBatchItemFailures`) and,
  every minute, EventBridge Scheduler's `{"faaskit": "sweep"}`, which relays again what
  was lost or is due, runs the crons and catches the projections up;
- `RelayQueue` (SQS) and `RelayDeadLetterQueue`: each commit sends the names of the
  deliveries it wrote; what keeps failing ends in the DLQ (the store still holds the
  delivery, and the sweep relays it again when it is due)."""
        if worker
        else "- no worker: the app has no subscribers, tasks, crons or projections."
    )
    return f"""\
# {app.title} on AWS Lambda (SAM)

Written by `faaskit package --target aws-sam` from the app's declarations:

- `HttpFunction`: every route behind {api};
{messaging}

Each function has its own role allowing only its log group, the relay queue (send; the
worker also receives and deletes) and `secretsmanager:GetSecretValue` on one secret. At
start-up the functions read that secret (`FAASKIT_SECRETS_ARN`): its `database-url`
becomes `FAASKIT_DATABASE_URL`, its `jwt-signing-key` the key every environment signs and
verifies tokens with. Nothing secret is in the template or the functions' configuration.
The store's pool is `FAASKIT_POSTGRES_POOL_SIZE={LAMBDA_POOL_SIZE}` per environment (Lambda gives an
environment one event at a time); `WorkerMaxConcurrency` bounds the worker's environments.

{_faaskit_note("src/", "aws")}
## Deploy

```sh
# 1. once: the secret (a JSON object), and its full ARN
KEY=$(openssl rand -hex 32)
aws secretsmanager create-secret --name {secret} --secret-string \\
  '{{"database-url": "postgresql://USER:PASSWORD@HOST:5432/DB", "jwt-signing-key": "'$KEY'"}}'
SECRET_ARN=$(aws secretsmanager describe-secret --secret-id {secret} --query ARN --output text)

# 2. build (Python {PYTHON} locally, or add --use-container) and deploy
sam build
sam deploy --stack-name {stack} --capabilities CAPABILITY_IAM --resolve-s3 \\
  --parameter-overrides SecretArn=$SECRET_ARN

# 3. the URL
aws cloudformation describe-stacks --stack-name {stack} \\
  --query "Stacks[0].Outputs[?OutputKey=='ApiUrl'].OutputValue" --output text
```

The functions run on `{options.architecture}`; `sam build` fetches wheels for it. A
database in a VPC needs a `VpcConfig` on the functions (`Globals.Function`), the
network-interface permissions in each role (the actions of the managed policy
`AWSLambdaVPCAccessExecutionRole`: `ec2:CreateNetworkInterface`,
`ec2:DescribeNetworkInterfaces`, `ec2:DeleteNetworkInterface` and their kin), and a way
from there to SQS and Secrets Manager (VPC endpoints or a NAT gateway). A secret encrypted
with a key of your own also needs `kms:Decrypt` on that key. A rotated database password
reaches new environments; publish a new version to move every one.
"""


def gcp_readme(app: App, *, events: bool, topic: str) -> str:
    """The README of a Cloud Functions (2nd gen) source folder."""
    name = app.name
    env = ",".join(f"{k}={v}" for k, v in environment(SHARED_POOL_SIZE).items())
    if events:
        env += f",FAASKIT_PUBSUB_TOPIC=projects/$PROJECT/topics/{topic}"
    secrets = (
        f"FAASKIT_DATABASE_URL={name}-database-url:latest,"
        f"FAASKIT_SECRET_JWT_SIGNING_KEY={name}-jwt-signing-key:latest"
    )
    common = (
        "--gen2 --runtime=python311 --region=$REGION --source=. \\\n"
        f"  --set-env-vars={env} \\\n  --set-secrets={secrets}"
    )
    topics = (
        f"\n# the relay topic (each commit publishes its deliveries' names) and its dead letters"
        f"\ngcloud pubsub topics create {topic}\ngcloud pubsub topics create {topic}-dead\n"
        if events
        else ""
    )
    if events:
        messaging = f"""
# the events function the relay topic triggers (540 s: the longest an event may run, so a
# long task or cron is not cut off at the 60 s default), and the sweep every minute
gcloud functions deploy {name}-events --entry-point=events --trigger-topic={topic} --retry \\
  --timeout=540s {common}
gcloud scheduler jobs create pubsub {name}-sweep --location=$REGION \\
  --schedule="* * * * *" --topic={topic} --message-body='{SWEEP}'
# dead-letter what keeps failing: SUBSCRIPTION is the trigger's
# (gcloud eventarc triggers describe TRIGGER --location=$REGION)
gcloud pubsub subscriptions update SUBSCRIPTION \\
  --dead-letter-topic={topic}-dead --max-delivery-attempts=10
```

`main.py` has two entry points: `handler` (HTTP, every route) and `events` (Pub/Sub: the
relayed deliveries, the sweep's `{SWEEP}`, which also runs the crons and catches up the
projections, and other topics' messages as notifications)."""
    else:
        messaging = """```

`main.py` has one entry point, `handler` (HTTP, every route). This faaskit has no Pub/Sub
event function, so subscribers, tasks, crons and projections are not delivered on Google
Cloud by this package."""
    return f"""\
# {app.title} on Google Cloud Functions (2nd gen)

Written by `faaskit package --target gcp` from the app's declarations.

{_faaskit_note(".", "gcp")}
## Deploy

```sh
PROJECT=$(gcloud config get-value project)
REGION=europe-west1

# once: the secrets (every instance must sign tokens with the same key)
printf %s 'postgresql://USER:PASSWORD@HOST:5432/DB' | \\
  gcloud secrets create {name}-database-url --data-file=-
openssl rand -hex 32 | tr -d '\\n' | gcloud secrets create {name}-jwt-signing-key --data-file=-
# the functions' service account (by default PROJECT_NUMBER-compute@developer.gserviceaccount.com)
for secret in {name}-database-url {name}-jwt-signing-key; do
  gcloud secrets add-iam-policy-binding $secret --role=roles/secretmanager.secretAccessor \\
    --member=serviceAccount:SERVICE_ACCOUNT
done
{topics}
# the HTTP function
gcloud functions deploy {name} --entry-point=handler --trigger-http --allow-unauthenticated \\
  {common}
{messaging}

Locally: `pip install -r requirements.txt && functions-framework --target=handler`.
The pool of {SHARED_POOL_SIZE} PostgreSQL connections suits the default concurrency of one
request per instance; raise `FAASKIT_POSTGRES_POOL_SIZE` with `--concurrency`.
"""


def azure_readme(app: App, *, route_prefix: str, queue: str) -> str:
    """The README of an Azure Functions (Python v2 model) project folder."""
    name = app.name
    group, vault, bus = f"{name}-rg", f"{name}-kv", f"{name}-bus"
    function_app = f"{name}-functions"
    prefix = f"/{route_prefix}" if route_prefix else ""
    # storage account names: 3-24 lower-case letters and digits
    storage = "".join(c for c in name.lower() if c.isalnum())[:17] + "store"
    settings = " ".join(f"{k}={v}" for k, v in environment(SHARED_POOL_SIZE).items())
    return f"""\
# {app.title} on Azure Functions

Written by `faaskit package --target azure` from the app's declarations. `function_app.py`
serves every route under `{prefix or "/"}` (host.json's `routePrefix`, given to the adapter
too); with the app settings `FAASKIT_SERVICEBUS` and `FAASKIT_SERVICEBUS_QUEUE` it also
registers the Service Bus trigger of the relay queue and the sweep timer (every minute:
relays what was lost or is due, runs the crons, catches the projections up).

{_faaskit_note(".", "azure")}
## Deploy

```sh
LOCATION=westeurope
az group create -n {group} -l $LOCATION
az storage account create -n {storage} -g {group} -l $LOCATION --sku Standard_LRS
az functionapp create -n {function_app} -g {group} --consumption-plan-location $LOCATION \\
  --storage-account {storage} \\
  --runtime python --runtime-version 3.11 --functions-version 4 --os-type linux
az functionapp identity assign -n {function_app} -g {group}

# once: the secrets in Key Vault (every instance must sign tokens with the same key)
az keyvault create -n {vault} -g {group} -l $LOCATION
az keyvault secret set --vault-name {vault} -n database-url \\
  --value 'postgresql://USER:PASSWORD@HOST:5432/DB'
az keyvault secret set --vault-name {vault} -n jwt-signing-key --value "$(openssl rand -hex 32)"
PRINCIPAL=$(az functionapp identity show -n {function_app} -g {group} \\
  --query principalId -o tsv)
az role assignment create --role "Key Vault Secrets User" --assignee $PRINCIPAL \\
  --scope $(az keyvault show -n {vault} --query id -o tsv)

# the relay queue (duplicate detection drops a send the SDK retried; it is set at creation)
az servicebus namespace create -n {bus} -g {group} -l $LOCATION --sku Standard
az servicebus queue create -n {queue} --namespace-name {bus} -g {group} \\
  --max-delivery-count 10 --enable-duplicate-detection true \\
  --duplicate-detection-history-time-window PT10M
# a key for this queue only, allowed to send and receive (not the namespace's Manage key)
az servicebus queue authorization-rule create -g {group} --namespace-name {bus} \\
  --queue-name {queue} -n faaskit --rights Send Listen

az functionapp config appsettings set -n {function_app} -g {group} --settings \\
  "FAASKIT_DATABASE_URL=@Microsoft.KeyVault(VaultName={vault};SecretName=database-url)" \\
  "FAASKIT_SECRET_JWT_SIGNING_KEY=@Microsoft.KeyVault(\\
VaultName={vault};SecretName=jwt-signing-key)" \\
  {settings} \\
  "FAASKIT_SERVICEBUS=$(az servicebus queue authorization-rule keys list -g {group} \\
    --namespace-name {bus} --queue-name {queue} -n faaskit \\
    --query primaryConnectionString -o tsv)" \\
  FAASKIT_SERVICEBUS_QUEUE={queue}

# publish (a remote build installs requirements.txt)
func azure functionapp publish {function_app} --python
```

Locally: `func start` (Azure Functions Core Tools and Azurite for `AzureWebJobsStorage`),
with `local.settings.json`; add `FAASKIT_SERVICEBUS` and `FAASKIT_SERVICEBUS_QUEUE` there
to run the Service Bus trigger and the sweep too.
"""
