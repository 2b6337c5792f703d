# The dynago ledger on AWS: the events table, the views table, and the IAM
# policies of the ledger's users. The Lambda function that keeps the views is
# in lambda.tf. docs/aws.md has the steps.

terraform {
  required_version = ">= 1.5"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.0"
    }
  }
}

# Region and credentials from the standard chain (AWS_REGION, AWS_PROFILE, ...).
provider "aws" {}

data "aws_partition" "current" {}

data "aws_region" "current" {}

data "aws_caller_identity" "current" {}

locals {
  # The placeholders of deploy/iam/*.json, the policies' one source.
  iam = {
    partition = data.aws_partition.current.partition
    region    = data.aws_region.current.name
    account   = data.aws_caller_identity.current.account_id
    table     = var.table_name
  }
}

resource "aws_dynamodb_table" "events" {
  name         = var.table_name
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "pk"
  range_key    = "sk"

  attribute {
    name = "pk"
    type = "S"
  }

  attribute {
    name = "sk"
    type = "S"
  }

  stream_enabled   = true
  stream_view_type = "NEW_IMAGE"

  # Only with StoreOptions::command_records_expire_after.
  dynamic "ttl" {
    for_each = var.command_records_expire ? ["expires_at"] : []
    content {
      attribute_name = ttl.value
      enabled        = true
    }
  }
}

resource "aws_dynamodb_table" "views" {
  name         = "${var.table_name}-views"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "pk"
  range_key    = "sk"

  attribute {
    name = "pk"
    type = "S"
  }

  attribute {
    name = "sk"
    type = "S"
  }
}

# For the ledger's users to attach to their own roles, users or groups.
resource "aws_iam_policy" "app" {
  name_prefix = "${var.table_name}-app-"
  description = "The ledger's commands and view reads on ${var.table_name} (deploy/iam/ledger-app.json)."
  policy      = templatefile("${path.module}/../iam/ledger-app.json", local.iam)
}

resource "aws_iam_policy" "worker" {
  name_prefix = "${var.table_name}-worker-"
  description = "ledger project and ledger rebuild on ${var.table_name} (deploy/iam/ledger-worker.json)."
  policy      = templatefile("${path.module}/../iam/ledger-worker.json", local.iam)
}

resource "aws_iam_policy" "explorer" {
  name_prefix = "${var.table_name}-explorer-"
  description = "ledger explore --no-project, read-only, on ${var.table_name} (deploy/iam/ledger-explorer.json)."
  policy      = templatefile("${path.module}/../iam/ledger-explorer.json", local.iam)
}

resource "aws_iam_policy" "explorer_replay" {
  name_prefix = "${var.table_name}-explorer-replay-"
  description = "Beside the explorer's: replaying parked events from it, on ${var.table_name} (deploy/iam/ledger-explorer-replay.json)."
  policy      = templatefile("${path.module}/../iam/ledger-explorer-replay.json", local.iam)
}
