"""The parts of bench/speed.py, one job each; bench/speed.py wires them together.

- data: the questions to answer and the dataset that scores them
- exports: the ONNX folder each onnx back-end runs
- stages: one timed predict run through spanqa's public stages (tokenise, forward, decode)
- flops: model FLOPs of the windows a run answered
- peaks: the matmul peaks of this machine
- latency: single-question latency, and the start-up time of `python -m spanqa ask`
- backends: every measurement of one back-end (BackendResult)
- baseline: transformers' QuestionAnsweringPipeline in its own virtual environment
- peer: the peer a speed-seeking user would pick (Optimum's ORTModelForQuestionAnswering on the int8 file)
- bound: what the model's FLOPs allow at 100% of each measured peak
- machine: facts about this machine
- report: the targets, and the markdown report
"""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
