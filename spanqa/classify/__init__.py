"""Text classification on the reader's engine: tokenizer -> padded, length-sorted batches -> runtime -> labels.

classifier = Classifier.load("my-classifier")
classifier.classify(["great film", ("question?", "paragraph")])  # [[LabelScore, ...], ...] best first
"""

from spanqa.classify.classifier import Classifier
from spanqa.classify.labels import LabelScore
from spanqa.classify.settings import ClassifierSettings

__all__ = ["Classifier", "ClassifierSettings", "LabelScore"]
