"""The demo's training script: a small PyTorch regression, checkpointing every epoch (spot-ready).

The same file serves the model once deployed: the inference toolkit imports it and calls
model_fn / input_fn / predict_fn / output_fn; training runs only when it is executed as a script.
"""

import argparse
import glob
import os
import time

import numpy as np
import torch


def model_fn(model_dir):
    model = torch.nn.Linear(4, 1)
    model.load_state_dict(torch.load(os.path.join(model_dir, "model.pth")))
    return model.eval()


def input_fn(body, content_type):
    import json

    return torch.tensor(json.loads(body)["inputs"], dtype=torch.float32)


def predict_fn(data, model):
    with torch.no_grad():
        return model(data)


def output_fn(prediction, accept):
    import json

    return json.dumps({"predictions": [round(float(p), 4) for p in prediction.flatten()]}), "application/json"


def load(channel):
    files = glob.glob(os.path.join(os.environ[f"SM_CHANNEL_{channel.upper()}"], "*.csv"))
    data = np.concatenate([np.loadtxt(f, delimiter=",", ndmin=2) for f in files])
    return torch.tensor(data[:, 1:], dtype=torch.float32), torch.tensor(data[:, :1], dtype=torch.float32)


def train():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=0.05)
    args = parser.parse_args()
    x, y = load("train")
    model = torch.nn.Linear(x.shape[1], 1)
    opt = torch.optim.SGD(model.parameters(), lr=args.learning_rate)
    ckpt = "/opt/ml/checkpoints/checkpoint.pt"
    start = 0
    if os.path.exists(ckpt):
        state = torch.load(ckpt)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        start = state["epoch"] + 1
        print(f"Resuming from checkpoint: epoch {start}")
    for epoch in range(start, args.epochs):
        for i in range(0, len(x), args.batch_size):
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(model(x[i : i + args.batch_size]), y[i : i + args.batch_size])
            loss.backward()
            opt.step()
        print(f"epoch={epoch} loss={torch.nn.functional.mse_loss(model(x), y).item():.6f}", flush=True)
        if os.path.isdir(os.path.dirname(ckpt)):
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "epoch": epoch}, ckpt)
            time.sleep(float(os.environ.get("EPOCH_SLEEP", "0")))
    if "SM_CHANNEL_VAL" in os.environ:
        vx, vy = load("val")
        print(f"val_loss={torch.nn.functional.mse_loss(model(vx), vy).item():.6f}")
    torch.save(model.state_dict(), os.path.join(os.environ["SM_MODEL_DIR"], "model.pth"))


if __name__ == "__main__":
    train()
