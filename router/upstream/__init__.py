"""Speaking to model endpoints: OpenAI-compatible servers over HTTP, other providers through litellm."""
