"""jopt.transformers: Hugging Face Transformers' schedule helpers and Adafactor, reproduced as jopt transforms.

Each `get_*_schedule*` helper takes Transformers' arguments with the optimizer
replaced by the base `learning_rate` and returns `count -> lr`, the learning
rate of the count-th optimizer step (count 0 first); `lr_scheduler` takes the
`lr_scheduler_type` names of `TrainingArguments`. Importing this namespace
does not import transformers or torch.
"""

from jopt._src.hf.fairseq_adafactor import HfAdafactorState
from jopt._src.hf.fairseq_adafactor import adafactor
from jopt._src.hf.fairseq_adafactor import adafactor as Adafactor
from jopt._src.hf.warmup_schedules import get_constant_schedule
from jopt._src.hf.warmup_schedules import get_constant_schedule_with_warmup
from jopt._src.hf.warmup_schedules import get_cosine_schedule_with_warmup
from jopt._src.hf.warmup_schedules import get_cosine_with_hard_restarts_schedule_with_warmup
from jopt._src.hf.min_lr_schedules import get_cosine_with_min_lr_schedule_with_warmup
from jopt._src.hf.min_lr_schedules import get_cosine_with_min_lr_schedule_with_warmup_lr_rate
from jopt._src.hf.warmup_schedules import get_inverse_sqrt_schedule
from jopt._src.hf.warmup_schedules import get_linear_schedule_with_warmup
from jopt._src.hf.warmup_schedules import get_polynomial_decay_schedule_with_warmup
from jopt._src.hf.min_lr_schedules import get_wsd_schedule
from jopt._src.hf.scheduler_types import lr_scheduler

__all__ = [
    "Adafactor",
    "HfAdafactorState",
    "adafactor",
    "get_constant_schedule",
    "get_constant_schedule_with_warmup",
    "get_cosine_schedule_with_warmup",
    "get_cosine_with_hard_restarts_schedule_with_warmup",
    "get_cosine_with_min_lr_schedule_with_warmup",
    "get_cosine_with_min_lr_schedule_with_warmup_lr_rate",
    "get_inverse_sqrt_schedule",
    "get_linear_schedule_with_warmup",
    "get_polynomial_decay_schedule_with_warmup",
    "get_wsd_schedule",
    "lr_scheduler",
]
