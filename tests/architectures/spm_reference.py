"""Reference SentencePiece tokenizer rebuilt from a GGUF vocabulary (test helper).

The reference ids in the tokenizer tests come from Google's ``sentencepiece``
library (C++ ``bpe_model.cc``), not from the tokenizers-library file under test.
A GGUF keeps everything a SentencePiece ``ModelProto`` needs, so the original
model is rebuilt piece by piece:

* pieces, scores and types are ``tokenizer.ggml.tokens/scores/token_type`` (the
  type numbers are sentencepiece's own ``SentencePiece.Type`` enum: llama.cpp's
  ``convert_hf_to_gguf.py`` copies them from ``sp.GetPieceType``-style checks);
* llama.cpp's convert script rewrites user-defined pieces with ``▁`` turned into
  spaces ("pre-normalize user-defined spaces", ``_create_vocab_sentencepiece``);
  the proto gets ``▁`` back, since SentencePiece matches user-defined pieces on the
  whitespace-escaped text;
* Gemma's GGUF marks ``<unk>`` CONTROL; sentencepiece requires exactly one
  UNKNOWN piece, so the piece at ``unknown_token_id`` is typed UNKNOWN;
* trainer: BPE with byte fallback; normalizer: identity (llama.cpp applies none),
  ``escape_whitespaces=True``, ``remove_extra_whitespaces=False`` and
  ``add_dummy_prefix`` = GGUF ``tokenizer.ggml.add_space_prefix``.

SentencePiece never turns control-piece text (``<start_of_turn>``) into its id;
tests that use control pieces splice their ids between reference encodings.
"""

from __future__ import annotations

from edgekit.exporters.tokenizers import PieceType, SpmVocab
from sentencepiece import SentencePieceProcessor
from sentencepiece import sentencepiece_model_pb2 as pb

SPACE = "\u2581"


def reference_processor(vocab: SpmVocab) -> SentencePieceProcessor:
    proto = pb.ModelProto()
    proto.trainer_spec.model_type = pb.TrainerSpec.BPE
    proto.trainer_spec.vocab_size = len(vocab.tokens)
    proto.trainer_spec.byte_fallback = True
    proto.trainer_spec.unk_id = vocab.unk_id if vocab.unk_id is not None else 0
    proto.trainer_spec.bos_id = vocab.bos_id if vocab.bos_id is not None else -1
    proto.trainer_spec.eos_id = vocab.eos_id if vocab.eos_id is not None else -1
    proto.trainer_spec.pad_id = vocab.pad_id if vocab.pad_id is not None else -1
    proto.normalizer_spec.name = "identity"
    proto.normalizer_spec.add_dummy_prefix = vocab.add_space_prefix
    proto.normalizer_spec.remove_extra_whitespaces = False
    proto.normalizer_spec.escape_whitespaces = True
    for i, (token, score, kind) in enumerate(zip(vocab.tokens, vocab.scores, vocab.types)):
        piece = proto.pieces.add()
        piece.piece = token.replace(" ", SPACE) if kind == PieceType.USER_DEFINED else token
        piece.score = score
        piece.type = int(PieceType.UNKNOWN) if i == vocab.unk_id else int(kind)
    return SentencePieceProcessor(model_proto=proto.SerializeToString())
