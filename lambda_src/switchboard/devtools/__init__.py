"""Development tools: a fake OpenAI-compatible upstream server for tests and benchmarks."""
