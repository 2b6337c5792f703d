output "events_table_name" {
  value = aws_dynamodb_table.events.name
}

output "views_table_name" {
  value = aws_dynamodb_table.views.name
}

output "events_table_arn" {
  value = aws_dynamodb_table.events.arn
}

output "stream_arn" {
  value = aws_dynamodb_table.events.stream_arn
}

output "function_name" {
  value = aws_lambda_function.projections.function_name
}

output "event_source_mapping_id" {
  description = "The UUID that `aws lambda update-event-source-mapping --uuid` takes."
  value       = aws_lambda_event_source_mapping.projections.uuid
}

output "failure_queue_url" {
  value = aws_sqs_queue.views_failures.url
}

output "app_policy_arn" {
  description = "Attach to whoever runs the ledger's commands."
  value       = aws_iam_policy.app.arn
}

output "worker_policy_arn" {
  description = "Attach to whoever runs `ledger project` or `ledger rebuild`."
  value       = aws_iam_policy.worker.arn
}

output "explorer_policy_arn" {
  description = "Attach to whoever runs the explorer, read-only."
  value       = aws_iam_policy.explorer.arn
}

output "explorer_replay_policy_arn" {
  description = "Attach beside the explorer's to let it replay parked events."
  value       = aws_iam_policy.explorer_replay.arn
}
