"""Reading and writing SQuAD-format files."""

from spanqa.data.squad import load_squad, load_squad_json, read_json_file, write_predictions

__all__ = ["load_squad", "load_squad_json", "read_json_file", "write_predictions"]
