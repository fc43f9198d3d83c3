"""Wire protocols other than OpenAI chat completions, translated to and from it so the pipeline stays one path."""
