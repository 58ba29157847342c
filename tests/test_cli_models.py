"""``gradlab check --model cnn|lstm``: the layer networks from the command line."""

import pytest

from gradlab.cli import main


@pytest.mark.parametrize(
    "argv, first",
    [
        (["--model", "cnn"], "Network([Conv2d(1, 2, 3, stride=1, padding=1), Activation('relu'), MaxPool2d(2)"),
        (["--model", "lstm", "--width", "3", "--fast"], "Network([LSTM(4, 3), Dense(3, 10)]"),
        (["--model", "mlp", "--sizes", "3,4,2"], "MLP([3, 4, 2]"),
    ],
)
def test_check_a_model_passes_and_says_which(argv, first, capsys):
    assert main(["check", "--batch", "8", *argv]) == 0
    out = capsys.readouterr().out
    assert out.startswith(first) and "gradcheck passed" in out
    if argv[1] == "cnn":
        assert "350 parameters" in out and "conv1.W" in out and "dense1.b" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--model", "cnn", "--sizes", "3,2"], "argument --sizes: --model cnn takes --width, not --sizes"),
        (["--model", "lstm", "--activation", "relu"], "argument --activation: --model lstm takes --width"),
        (["--model", "cnn", "--width", "0"], "argument --width: must be a positive integer; got 0"),
        (["--model", "gru"], "argument --model: invalid choice: 'gru'"),
    ],
)
def test_bad_model_options_are_usage_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["check", *argv])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err
