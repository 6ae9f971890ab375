"""Drop-in replacements for the question-answering tools people are moving away from.

- `transformers_pipeline`: `spanqa.pipeline("question-answering", model=...)`, the call forms and
  output shapes of the pipeline transformers 5.3 removed.
- `haystack`: a Haystack component with the inputs and outputs of `ExtractiveReader` (extra `spanqa[haystack]`).
"""
