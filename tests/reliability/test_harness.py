"""The harness itself: a good command passes, a bad one is one line, and the tiny run is complete."""

from harness import assert_one_line_error, run_cli, sample_one, tree_hashes


def test_the_tiny_run_is_complete_and_samples(tiny_run, tmp_path, capsys):
    for role in ("tokenizer", "autoencoder", "prior", "reranker"):
        assert (tiny_run / "export" / role / "config.json").is_file()
    before = tree_hashes(tiny_run)
    result = sample_one(tiny_run, tmp_path / "s.png", capsys)
    assert result.code == 0, result.err
    assert tree_hashes(tiny_run) == before


def test_an_unknown_recipe_is_one_line(capsys, tmp_path):
    assert_one_line_error(run_cli(["validate", tmp_path / "nope.yaml"], capsys), 2, "nope.yaml")
