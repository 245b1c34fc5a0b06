# -*- coding: utf-8 -*-
"""Every kind of AWS remnant: a stable id, the AWS service it belongs to, advice, severity.

The ids are a public contract (JSON ``kind``, SARIF ``ruleId``): rename one and every saved
report and code-scanning alert loses its history. Advice names only things that exist in this
repository (a test checks every ``playbooks/*.yml`` and ``docs/*.md`` named here).
"""
from __future__ import annotations

from typing import Dict, NamedTuple


class Kind(NamedTuple):
    """What one kind is: service, a short title, the default advice and a SARIF level."""

    service: str
    title: str
    advice: str
    level: str = "warning"


APPS_ADVICE = ("run it as a container from GHCR on a Hearth host (see docs/vercel-ghcr.md); "
               "the platform's connection details reach it as environment variables")

KINDS: Dict[str, Kind] = {
    "ecr-image": Kind("ecr", "ECR image reference",
                      "push the image to GHCR: ghcr.io/<owner>/<name>:<tag>"),
    "ecr-registry": Kind("ecr", "ECR registry host", "use ghcr.io/<owner> as the registry"),
    "ecr-public-image": Kind("ecr", "ECR Public image",
                             "mirror the image to GHCR or use its Docker Hub original"),
    "ecr-login": Kind("ecr", "ECR login command",
                      'echo "$GHCR_TOKEN" | docker login ghcr.io -u "$GHCR_USER" '
                      "--password-stdin"),
    "s3-uri": Kind("s3", "S3 URI",
                   "keep the URI; point the client at MinIO with S3_ENDPOINT_URL "
                   "(boto3: endpoint_url, Hadoop: fs.s3a.endpoint) and create the bucket"),
    "s3-endpoint": Kind("s3", "S3 endpoint URL",
                        "${S3_ENDPOINT_URL}/<bucket>/<key> (MinIO, path-style)"),
    "rds-endpoint": Kind("rds", "RDS endpoint",
                         "Postgres on the data host: ${DATABASE_URL} (or ${POSTGRES_HOST})"),
    "elasticache-endpoint": Kind("elasticache", "ElastiCache endpoint",
                                 "Redis on the data host: ${REDIS_URL} (or ${REDIS_HOST})"),
    "arn": Kind("iam", "ARN",
                "remove: Hearth has no AWS account; grant access with Hearth roles"),
    "access-key-id": Kind("credentials", "AWS access key ID",
                          "deactivate the key in IAM, remove it from the file and from git "
                          "history; MinIO keys live in ansible-vault", "error"),
    "secret-access-key": Kind("credentials", "AWS secret access key",
                              "deactivate the key in IAM, remove the value from the file and "
                              "from git history", "error"),
    "aws-env-var": Kind("config", "AWS_* variable",
                        "remove, or rename to the Hearth service's variable"),
    "sdk-dependency": Kind("dependency", "AWS SDK dependency",
                           "S3 clients keep working against MinIO with an endpoint URL; other "
                           "AWS services need code changes, then remove", "note"),
    "sdk-import": Kind("code", "AWS SDK used in code",
                       "S3 clients keep working against MinIO (endpoint URL from "
                       "S3_ENDPOINT_URL); calls to other AWS services need a Hearth "
                       "equivalent first", "note"),
    "tool-dependency": Kind("dependency", "AWS deployment tool dependency",
                            "remove the dependency (AWS deployment tooling)"),
    "terraform-aws": Kind("iac", "Terraform on AWS",
                          "delete: Hearth's roles and inventories replace these resources"),
    "terraform-state": Kind("iac", "Terraform state kept in AWS",
                            "move the state first (terraform init -migrate-state to a backend "
                            "on Hearth: pg on Postgres, or s3 on MinIO with its endpoint), "
                            "then drop the S3 bucket and DynamoDB lock table", "error"),
    "pulumi-aws": Kind("iac", "Pulumi on AWS",
                       "retire the Pulumi program; Hearth's roles replace its resources"),
    "cdk-app": Kind("iac", "AWS CDK app",
                    "retire the CDK app (cdk.json and its source); Hearth's roles replace it"),
    "cloudformation-template": Kind("iac", "CloudFormation or SAM template",
                                    "delete the template; Hearth's playbooks deploy instead"),
    "serverless-aws": Kind("iac", "Serverless Framework on AWS",
                           "delete the Serverless file; " + APPS_ADVICE),
    "ecs-task-definition": Kind("iac", "ECS task definition",
                                "delete the task definition; " + APPS_ADVICE),
    "aws-actions-step": Kind("ci", "aws-actions workflow step", "replace the step"),
    "aws-cli-call": Kind("cli", "AWS CLI call", "replace the AWS CLI call"),
}

ARN_ADVICE = {
    "s3": "MinIO bucket: refer to it by name; access through MinIO policies",
    "secretsmanager": "ansible-vault variable (vault_<name>) per environment",
    "ssm": "ansible-vault or group_vars variable",
    "rds": "Postgres on the data host (DATABASE_URL)",
    "elasticache": "Redis on the data host (REDIS_URL)",
    "ecr": "GHCR repository ghcr.io/<owner>/<name>",
    "sagemaker": "vLLM / Ollama OpenAI-compatible route behind Caddy",
    "bedrock": "vLLM / Ollama OpenAI-compatible route behind Caddy",
}

VAR_ADVICE = {
    "AWS_ACCESS_KEY_ID": "MinIO access key (boto3 reads this name too); value from ansible-vault",
    "AWS_SECRET_ACCESS_KEY": "MinIO secret key (boto3 reads this name too); value from "
                             "ansible-vault",
    "AWS_ENDPOINT_URL": "S3_ENDPOINT_URL pointing at MinIO",
    "AWS_ENDPOINT_URL_S3": "S3_ENDPOINT_URL pointing at MinIO",
    "AWS_REGION": "MinIO region (us-east-1 unless configured) or remove",
    "AWS_DEFAULT_REGION": "MinIO region (us-east-1 unless configured) or remove",
}

ACTION_ADVICE = {
    "aws-actions/amazon-ecr-login": "docker/login-action with registry: ghcr.io and "
                                    "password: ${{ secrets.GITHUB_TOKEN }} (playbooks/"
                                    "ci_workflow.yml writes such a workflow)",
    "aws-actions/configure-aws-credentials": "remove (no AWS account to log in to)",
    "aws-actions/amazon-ecs-render-task-definition": "remove; " + APPS_ADVICE,
    "aws-actions/amazon-ecs-deploy-task-definition": "remove; " + APPS_ADVICE,
}

CLI_ADVICE = {
    "s3": "mc (MinIO client) or aws --endpoint-url \"$S3_ENDPOINT_URL\" s3 ...",
    "ecr": KINDS["ecr-login"].advice,
    "ecs": APPS_ADVICE,
    "secretsmanager": "ansible-vault view / a vault_<name> variable",
    "ssm": "ansible-vault view / a vault_<name> variable",
}

# What an SDK import means, by the package's top-level name.
SDK_ADVICE = {
    "pulumi": KINDS["pulumi-aws"].advice,
    "cdk": KINDS["cdk-app"].advice,
    "lambda": "a Lambda handler: run it behind a web framework in a container; "
              + APPS_ADVICE,
}
