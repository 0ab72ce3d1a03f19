"""What every Tutorbook HTTP service is built of: the OpenAI error shape, probes and metrics exposition,
request ids and JSON logs, the internal token, and the Redis names the gateway and the retriever share."""
