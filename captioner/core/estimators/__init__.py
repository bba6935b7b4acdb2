"""Where in an item's audio each transcript delta is spoken, when the server does not say.

An estimator is fed one item's audio and text as they stream in and answers an
item-relative span per delta. The default is forced alignment (pocketsphinx); the
audio-only estimator (energy landmarks) covers items without samples; the deferred
estimator hands the work to a worker process so a live session never waits for it.
"""

from captioner.core.estimators._deferred import Answer, DeferredEstimator, EstimatorHost, Source, Work
from captioner.core.estimators._base import STEP_MS, EstimatorFactory, ItemEstimator, Span
from captioner.core.estimators._energy import AudioAlignedEstimator, ProportionalEstimator
from captioner.core.estimators._forced import ForcedAlignEstimator, default_estimator

__all__ = [
    "STEP_MS", "Answer", "AudioAlignedEstimator", "DeferredEstimator", "EstimatorFactory", "EstimatorHost", "Source",
    "ForcedAlignEstimator", "ItemEstimator", "ProportionalEstimator", "Span", "Work",
    "default_estimator",
]
