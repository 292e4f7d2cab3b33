"""jopt.keras: Keras 3's optimizers and learning-rate schedules, reproduced as jopt transforms.

Constructors take Keras's argument names, order and defaults and give Keras's
numbers, including the base-optimizer options (`weight_decay`, clipping, EMA,
gradient accumulation, loss scaling); each optimizer is also available under
Keras's class name (`Adam`, `RMSprop`, ...). Importing this namespace does not
import keras.
"""

# --- optimizers ---
from jopt._src.keras.adam_family import adam
from jopt._src.keras.adam_family import adamax
from jopt._src.keras.adam_family import adamw
from jopt._src.keras.adam_family import lamb
from jopt._src.keras.adam_family import lion
from jopt._src.keras.adam_family import nadam
from jopt._src.keras.optimizers import adadelta
from jopt._src.keras.optimizers import adafactor
from jopt._src.keras.optimizers import adagrad
from jopt._src.keras.optimizers import ftrl
from jopt._src.keras.optimizers import rmsprop
from jopt._src.keras.optimizers import sgd

# --- Keras's class names for the same objects ---
from jopt._src.keras.adam_family import adam as Adam
from jopt._src.keras.adam_family import adamax as Adamax
from jopt._src.keras.adam_family import adamw as AdamW
from jopt._src.keras.adam_family import lamb as Lamb
from jopt._src.keras.adam_family import lion as Lion
from jopt._src.keras.adam_family import nadam as Nadam
from jopt._src.keras.optimizers import adadelta as Adadelta
from jopt._src.keras.optimizers import adafactor as Adafactor
from jopt._src.keras.optimizers import adagrad as Adagrad
from jopt._src.keras.optimizers import ftrl as Ftrl
from jopt._src.keras.optimizers import rmsprop as RMSprop
from jopt._src.keras.optimizers import sgd as SGD

# --- state and the end-of-training EMA swap ---
from jopt._src.keras.base_optimizer import KerasOptimizerState
from jopt._src.keras.base_optimizer import finalize_variable_values

# --- schedules (keras.optimizers.schedules), also under their class names ---
from jopt._src.keras.learning_rate_schedules import cosine_decay
from jopt._src.keras.learning_rate_schedules import cosine_decay_restarts
from jopt._src.keras.learning_rate_schedules import exponential_decay
from jopt._src.keras.learning_rate_schedules import inverse_time_decay
from jopt._src.keras.learning_rate_schedules import piecewise_constant_decay
from jopt._src.keras.learning_rate_schedules import polynomial_decay
from jopt._src.keras.learning_rate_schedules import cosine_decay as CosineDecay
from jopt._src.keras.learning_rate_schedules import cosine_decay_restarts as CosineDecayRestarts
from jopt._src.keras.learning_rate_schedules import exponential_decay as ExponentialDecay
from jopt._src.keras.learning_rate_schedules import inverse_time_decay as InverseTimeDecay
from jopt._src.keras.learning_rate_schedules import piecewise_constant_decay as PiecewiseConstantDecay
from jopt._src.keras.learning_rate_schedules import polynomial_decay as PolynomialDecay

__all__ = [
    "Adadelta",
    "Adafactor",
    "Adagrad",
    "Adam",
    "AdamW",
    "Adamax",
    "CosineDecay",
    "CosineDecayRestarts",
    "ExponentialDecay",
    "Ftrl",
    "InverseTimeDecay",
    "KerasOptimizerState",
    "Lamb",
    "Lion",
    "Nadam",
    "PiecewiseConstantDecay",
    "PolynomialDecay",
    "RMSprop",
    "SGD",
    "adadelta",
    "adafactor",
    "adagrad",
    "adam",
    "adamax",
    "adamw",
    "cosine_decay",
    "cosine_decay_restarts",
    "exponential_decay",
    "finalize_variable_values",
    "ftrl",
    "inverse_time_decay",
    "lamb",
    "lion",
    "nadam",
    "piecewise_constant_decay",
    "polynomial_decay",
    "rmsprop",
    "sgd",
]
