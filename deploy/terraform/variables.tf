variable "table_name" {
  description = "The events table; the views go to the table TABLE_NAME-views."
  type        = string
  default     = "ledger"

  validation {
    condition     = can(regex("^[a-zA-Z0-9_-]{3,40}$", var.table_name))
    error_message = "3 to 40 of a-z, A-Z, 0-9, _ and -: the table name is also in the function's (64 at most) and the queue's name, which take no dot."
  }
}

variable "command_records_expire" {
  description = "Time to live on the attribute expires_at: true only when the event store runs with StoreOptions::command_records_expire_after (the ledger does not)."
  type        = bool
  default     = false
}

variable "lambda_zip" {
  description = "The function's zip (a file named bootstrap inside); default: the one `cargo lambda build --release --arm64 --output-format zip --bin ledger-lambda` makes, target/lambda/ledger-lambda/bootstrap.zip at the workspace's root."
  type        = string
  default     = null
}
