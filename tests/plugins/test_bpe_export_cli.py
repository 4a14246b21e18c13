"""Export round trip of the bpe tokenizer and the `genkit tokenizer train` command."""

import json

import pytest
import torch

import genkit
from genkit.cli import main
from genkit.testing.tokenizer import default_corpus


@pytest.fixture
def trained():
    params = genkit.make_params("tokenizer", "bpe", {"vocab_size": 400, "max_length": 32})
    tok = genkit.build_component("tokenizer", params)
    tok.train(default_corpus(300))
    return tok, params


def test_export_files_and_bit_identical_reload(trained, tmp_path):
    tok, params = trained
    role_dir = genkit.save_component(tmp_path / "a", "tokenizer", tok, params, genkit.BuildContext())
    assert sorted(p.name for p in role_dir.iterdir()) == ["bpe.json", "config.json", "tokenizer.json"]
    assert json.loads((tmp_path / "a" / "model_index.json").read_text())["tokenizer"]["kind"] == "bpe"
    loaded = genkit.load_component(tmp_path / "a", "tokenizer")
    corpus = default_corpus(500, seed=9)
    assert torch.equal(loaded.encode(corpus).ids, tok.encode(corpus).ids)
    assert torch.equal(loaded.encode(corpus, dropout=True, seed=3).ids, tok.encode(corpus, dropout=True, seed=3).ids)
    loaded.save_files(tmp_path / "b")
    for name in ("tokenizer.json", "bpe.json"):
        assert (tmp_path / "b" / name).read_bytes() == (role_dir / name).read_bytes()


def test_corrupt_or_foreign_files_are_named(trained, tmp_path):
    tok, params = trained
    role_dir = genkit.save_component(tmp_path, "tokenizer", tok, params, genkit.BuildContext())
    (role_dir / "tokenizer.json").write_text("{not json")
    with pytest.raises(genkit.ExportError, match=r"tokenizer\.json: not valid JSON"):
        genkit.load_component(tmp_path, "tokenizer")
    (role_dir / "tokenizer.json").write_text(json.dumps({"model": {"vocab": {"a": 0}, "merges": []}}))
    with pytest.raises(genkit.ExportError, match="lacks 255 of the 256 byte tokens"):
        genkit.load_component(tmp_path, "tokenizer")
    (role_dir / "bpe.json").write_text(json.dumps({"format": 99}))
    with pytest.raises(genkit.ExportError, match=r"bpe\.json: written by another version"):
        genkit.load_component(tmp_path, "tokenizer")
    (role_dir / "bpe.json").unlink()
    with pytest.raises(genkit.ExportError, match=r"bpe\.json: no such file"):
        genkit.load_component(tmp_path, "tokenizer")


def test_loading_more_tokens_than_configured_fails(trained, tmp_path):
    tok, _ = trained
    tok.save_files(tmp_path)
    small = genkit.build_component("tokenizer", genkit.make_params("tokenizer", "bpe", {"vocab_size": 300}))
    with pytest.raises(genkit.ExportError, match="exceed config.json's vocab_size 300"):
        small.load_files(tmp_path)


def test_cli_trains_from_a_text_file(tmp_path, capsys):
    captions = tmp_path / "captions.txt"
    corpus = default_corpus(300)
    captions.write_text("\n".join(c.replace("\n", " ") for c in corpus) + "\n", encoding="utf-8")
    out = tmp_path / "export"
    assert (
        main(["tokenizer", "train", str(captions), "--vocab-size", "350", "--max-length", "20", "--out", str(out)]) == 0
    )
    assert "350 tokens" in capsys.readouterr().out
    tok = genkit.load_component(out, "tokenizer")
    assert (tok.vocab_size, tok.max_length, tok.trained_vocab_size) == (350, 20, 350)
    params, _ = genkit.read_component_config(out, "tokenizer")
    assert params.kind == "bpe" and params.vocab_size == 350
    batch = tok.encode(["a small red circle at the top left."])
    assert tok.decode(batch.ids, batch.lengths) == ["a small red circle at the top left."]


def test_cli_reads_captions_jsonl_train_split(tmp_path):
    rows = [{"file": f"{i}.png", "caption": c} for i, c in enumerate(default_corpus(100))]
    rows.append({"file": "v.png", "caption": "zzzz qqqq zzzz qqqq " * 50, "split": "validation"})
    jsonl = tmp_path / "captions.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    out = tmp_path / "export"
    assert (
        main(["tokenizer", "train", str(jsonl), "--vocab-size", "2000", "--out", str(out), "--min-frequency", "1"]) == 0
    )
    tok = genkit.load_component(out, "tokenizer")
    assert " zzzz" not in tok._vocab and tok.params.lowercase  # validation captions were left out


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "no such caption file"),
        ('{"caption": "ok"}\n[1, 2]\n', ":2: expected an object"),
        ('{"caption": "ok"}\n{oops\n', ":2: not valid JSON"),
        ("\n\n", "no captions found"),
    ],
)
def test_cli_errors_name_the_file_and_line(tmp_path, capsys, content, message):
    path = tmp_path / "captions.jsonl"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    assert main(["tokenizer", "train", str(path), "--out", str(tmp_path / "out")]) == 2
    assert message in capsys.readouterr().err


def test_plugin_is_found_through_its_entry_point():
    plugins = genkit.get_plugins()
    assert "bpe" in plugins.registry.kinds("tokenizer")
    assert plugins.commands()["tokenizer"].owner == "bpe"
