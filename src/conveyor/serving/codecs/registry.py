"""The formats each prediction route reads, chosen by Content-Type and, for JSON, the body's
shape; and the one function that lists them (``build_codecs``), so a new format is one codec
module and one line here.

``CodecRegistry.decode`` is the whole decoding of a prediction request: the body's codec,
the model it is for, the codec's rows, then for named rows the entity-key split (a model
trained on a feature store) and the schema check. It runs off the event loop for large
bodies, so it never awaits; the feature lookup itself comes after (``FeatureLookup.complete``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from conveyor.errors import Problem
from conveyor.plugins import Registry
from conveyor.serving.codecs.base import JSON, Codec, Envelope, Named, Opened
from conveyor.serving.codecs.csvbody import Csv
from conveyor.serving.codecs.mlflowjson import DataframeSplit, Inputs, MlflowEnvelope, Rows
from conveyor.serving.codecs.predictjson import Features, Instances, PredictEnvelope
from conveyor.serving.columns import columns_from_instances
from conveyor.serving.inputs import PredictInput, RequestError, UnseenPolicy, check_rows
from conveyor.serving.jsonbody import parse_json

if TYPE_CHECKING:
    from conveyor.serving.features import FeatureLookup
    from conveyor.serving.manager import LoadedModel, ModelManager


class UnsupportedMediaType(RequestError):
    """A Content-Type the route has no codec for (415)."""

    def __init__(self, given: str, accepted: list[str]) -> None:
        message = f"{given or 'no Content-Type'}: send {' or '.join(accepted)}"
        super().__init__([Problem("Content-Type", message)], status=415)


class CodecRegistry(Registry[Codec]):
    """One route's codecs: an explicit registry that refuses a second codec of the same name
    (or, outside JSON, of the same Content-Type) and lists the valid names for an unknown one.
    JSON formats are tried in the order they were added."""

    def __init__(self, envelope: Envelope) -> None:
        super().__init__("request format")
        self.envelope = envelope
        self._json: list[str] = []
        self._by_media: dict[str, Codec] = {}

    def register(self, codec: Codec) -> None:
        if codec.media_type != JSON and codec.media_type in self._by_media:
            taken = self._by_media[codec.media_type].name
            raise ValueError(f"{codec.media_type} is read by the codec {taken!r} already")
        super().register(codec)  # refuses a second name before the indexes below change
        if codec.media_type == JSON:
            self._json.append(codec.name)
        else:
            self._by_media[codec.media_type] = codec

    def media_types(self) -> list[str]:
        return sorted({JSON, *self._by_media})

    def decode(
        self,
        body: bytes,
        content_type: str,
        manager: ModelManager,
        policy: UnseenPolicy,
        max_rows: int,
        lookup: FeatureLookup | None = None,
    ) -> PredictInput:
        """Parse and check a prediction body. Named rows of a model trained on a feature store
        may carry entity keys instead of features: the answer is then ``wanted``
        (``FeatureLookup.complete`` looks them up and checks)."""
        envelope = self.envelope
        # a route whose body cannot pin a version answers "not ready" before reading it
        model = None if envelope.pins_version else manager.get(None)
        media = content_type.split(";", 1)[0].strip().lower()
        codec = self._by_media.get(media)
        if codec is not None:
            opened = Opened(codec.name, body)
        elif envelope.strict_media and media not in (JSON, ""):
            raise UnsupportedMediaType(media, self.media_types())
        else:
            opened = envelope.open(parse_json(body), self._json)
            codec = self.get(opened.name)
        if model is None:
            model = manager.get(opened.version)
        out = codec.decode(opened.value, model.bundle.schema, policy, max_rows)
        if isinstance(out, Named):
            return named_rows(model, opened.version, out, policy, max_rows, lookup)
        columns, rows = out
        return PredictInput(model, opened.version, columns, rows)


def named_rows(
    model: LoadedModel,
    pinned: str | None,
    named: Named,
    policy: UnseenPolicy,
    max_rows: int,
    lookup: FeatureLookup | None,
) -> PredictInput:
    """Rows of ``{name: value}`` checked against the model's schema — or, for a model
    trained on a feature store whose rows give entity keys, split for ``lookup`` (the answer
    is then ``wanted``: ``FeatureLookup.complete`` looks the features up and checks)."""
    instances, label = named.rows, named.label
    keys = None
    wants = lookup is not None and model.bundle.online_features is not None
    if wants and isinstance(instances, list) and instances:
        assert lookup is not None
        check_rows(label, len(instances), max_rows)
        wanted = lookup.prepare(model.bundle, instances, label)
        if wanted.entities:
            return PredictInput(model, pinned, {}, 0, wanted.keys, wanted)
        instances, keys = wanted.rows, wanted.keys
    schema = model.bundle.schema
    columns, rows = columns_from_instances(instances, schema, policy, max_rows, label)
    return PredictInput(model, pinned, columns, rows, keys)


@dataclass(frozen=True)
class RouteCodecs:
    """The formats of each prediction route."""

    predict: CodecRegistry
    invocations: CodecRegistry


def build_codecs() -> RouteCodecs:
    """Every route's codecs, in the order a JSON body's members are tried."""
    predict = CodecRegistry(PredictEnvelope(fallback=Instances.name))
    predict_codecs: tuple[Codec, ...] = (Features(), Instances(), Csv())
    for codec in predict_codecs:
        predict.register(codec)
    invocations = CodecRegistry(MlflowEnvelope())
    mlflow_codecs: tuple[Codec, ...] = (
        DataframeSplit(),
        Rows("dataframe_records"),
        Rows("instances"),
        Inputs(),
        Csv(),
    )
    for codec in mlflow_codecs:
        invocations.register(codec)
    return RouteCodecs(predict, invocations)
