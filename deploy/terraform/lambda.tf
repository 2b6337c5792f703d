# The Lambda function that keeps the views from the events table's stream
# (examples/ledger/src/bin/ledger-lambda.rs), its event source mapping, and
# the queue where the mapping reports the batches it gave up on.

locals {
  lambda_zip = coalesce(var.lambda_zip, "${path.module}/../../target/lambda/ledger-lambda/bootstrap.zip")
}

# A message here means events were not applied: rebuild the views.
resource "aws_sqs_queue" "views_failures" {
  name                      = "${var.table_name}-views-failures"
  message_retention_seconds = 1209600
}

data "aws_iam_policy_document" "lambda_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "projections" {
  name_prefix        = "${substr(var.table_name, 0, 20)}-projections-"
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
}

# What the function itself sends.
resource "aws_iam_role_policy" "projections" {
  name   = "ledger-lambda"
  role   = aws_iam_role.projections.id
  policy = templatefile("${path.module}/../iam/ledger-lambda.json", local.iam)
}

# What Lambda sends for the event source mapping: it reads the stream, and
# reports the batches it gave up on to the queue.
data "aws_iam_policy_document" "event_source" {
  statement {
    sid = "LedgerStreamRead"
    actions = [
      "dynamodb:DescribeStream",
      "dynamodb:GetRecords",
      "dynamodb:GetShardIterator",
      "dynamodb:ListStreams",
    ]
    resources = ["${aws_dynamodb_table.events.arn}/stream/*"]
  }

  statement {
    sid       = "LedgerViewsFailures"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.views_failures.arn]
  }
}

resource "aws_iam_role_policy" "event_source" {
  name   = "ledger-lambda-event-source"
  role   = aws_iam_role.projections.id
  policy = data.aws_iam_policy_document.event_source.json
}

resource "aws_iam_role_policy_attachment" "logs" {
  role       = aws_iam_role.projections.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
}

resource "aws_cloudwatch_log_group" "projections" {
  name              = "/aws/lambda/${var.table_name}-projections"
  retention_in_days = 14
}

resource "aws_lambda_function" "projections" {
  function_name    = "${var.table_name}-projections"
  description      = "Keeps the views in ${aws_dynamodb_table.views.name} from the stream of ${aws_dynamodb_table.events.name} (examples/ledger/src/bin/ledger-lambda.rs)."
  role             = aws_iam_role.projections.arn
  runtime          = "provided.al2023"
  handler          = "bootstrap"
  architectures    = ["arm64"]
  memory_size      = 256
  timeout          = 60 # a rebuild waits this long after pausing the event source mapping
  filename         = local.lambda_zip
  source_code_hash = filebase64sha256(local.lambda_zip)

  environment {
    variables = {
      LEDGER_TABLE = aws_dynamodb_table.events.name
      RUST_LOG     = "warn"
    }
  }

  depends_on = [aws_cloudwatch_log_group.projections, aws_iam_role_policy_attachment.logs]
}

resource "aws_lambda_event_source_mapping" "projections" {
  function_name     = aws_lambda_function.projections.arn
  event_source_arn  = aws_dynamodb_table.events.stream_arn
  starting_position = "TRIM_HORIZON"
  batch_size        = 100

  # The function answers with the records that failed, the first of each
  # aggregate; Lambda sends them and what follows them again.
  function_response_types        = ["ReportBatchItemFailures"]
  bisect_batch_on_function_error = false
  maximum_retry_attempts         = 10
  # No age limit: records that wait (a paused mapping, a backlog) are applied
  # when their turn comes, within the stream's 24 hours.
  maximum_record_age_in_seconds = -1

  destination_config {
    on_failure {
      destination_arn = aws_sqs_queue.views_failures.arn
    }
  }

  # Event items only, not snapshots or command records.
  filter_criteria {
    filter {
      pattern = jsonencode({ dynamodb = { Keys = { sk = { S = [{ prefix = "e#" }] } } } })
    }
  }

  # The role must read the stream and reach the queue when the mapping is made.
  depends_on = [
    aws_iam_role_policy.projections,
    aws_iam_role_policy.event_source,
    aws_dynamodb_table.views,
  ]
}
