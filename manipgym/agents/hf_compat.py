"""Load Hugging Face processors on machines without torchvision.

transformers 5 gives Qwen2-VL-style processors a video slot whose processor needs torchvision,
and no CPU build of torchvision exists here (REFERENCE.md §3). Their image processors have a
PIL backend, and manipgym only sends images, so on such a machine the processor is assembled
from its tokenizer and image processor with :class:`ImagesOnlyVideoProcessor` in the video
slot. Where torchvision is installed, everything here passes straight to ``AutoProcessor``.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import transformers
from transformers import AutoImageProcessor, AutoProcessor, AutoTokenizer, processing_utils
from transformers.video_processing_utils import VideoProcessorMixin

HAS_TORCHVISION = importlib.util.find_spec("torchvision") is not None


class ImagesOnlyVideoProcessor(VideoProcessorMixin):
    """Fills a processor's video slot when torchvision is missing; refuses any video.

    It saves as the video processor it stands in for (``saved_config``), so a checkpoint written
    on a machine without torchvision still loads the real one elsewhere.
    """

    def __init__(self, saved_config: dict | None = None):
        super().__init__()
        self.saved_config = dict(saved_config or {"video_processor_type": "Qwen2VLVideoProcessor"})

    def __call__(self, *args, **kwargs):
        raise RuntimeError("this processor was loaded without torchvision and cannot process videos")

    def to_dict(self) -> dict:
        return dict(self.saved_config)


def _processor_class(checkpoint: Path):
    for name in ("processor_config.json", "preprocessor_config.json"):
        path = checkpoint / name
        if path.exists():
            class_name = json.loads(path.read_text()).get("processor_class")
            if class_name:
                return getattr(transformers, class_name, None)
    return None


def _saved_video_config(checkpoint: Path) -> dict | None:
    for name in ("processor_config.json", "video_preprocessor_config.json"):
        path = checkpoint / name
        if path.exists():
            data = json.loads(path.read_text())
            config = data.get("video_processor", data if "video_processor_type" in data else None)
            if config:
                return config
    return None


def _chat_template(checkpoint: Path) -> str | None:
    jinja = checkpoint / "chat_template.jinja"
    if jinja.exists():
        return jinja.read_text()
    legacy = checkpoint / "chat_template.json"
    if legacy.exists():
        return json.loads(legacy.read_text()).get("chat_template")
    return None


def load_processor(checkpoint: str | Path, trust_remote_code: bool = False):
    """``AutoProcessor.from_pretrained``, or, without torchvision, an images-only assembly of a
    processor that has a video slot."""
    checkpoint = Path(checkpoint)
    processor_class = None if HAS_TORCHVISION else _processor_class(checkpoint)
    if processor_class is None or "video_processor" not in processor_class.get_attributes():
        return AutoProcessor.from_pretrained(checkpoint, trust_remote_code=trust_remote_code)
    return processor_class(
        image_processor=AutoImageProcessor.from_pretrained(checkpoint),
        tokenizer=AutoTokenizer.from_pretrained(checkpoint),
        video_processor=images_only_video_processor(_saved_video_config(checkpoint)),
        chat_template=_chat_template(checkpoint),
    )


def images_only_video_processor(saved_config: dict | None = None) -> ImagesOnlyVideoProcessor:
    """The stand-in for a processor's video slot, made acceptable to ``ProcessorMixin``."""
    # ProcessorMixin checks each slot's class by looking its base class up on its own handle on
    # the transformers package, where the video mixin is hidden when torchvision is missing.
    processing_utils.transformers_module.VideoProcessorMixin = VideoProcessorMixin
    return ImagesOnlyVideoProcessor(saved_config)
