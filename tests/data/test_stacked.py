"""stacked-fmnist: three random Fashion-MNIST images as the channels of one, labelled by their mode."""
import torch

from gankit.data.stacked import stack_channels


def test_stacked_fashion_mnist_stacks_three_images_and_labels_their_mode():
    images = torch.arange(4, dtype=torch.uint8).view(4, 1, 1, 1).expand(4, 1, 2, 2).contiguous()  # image i is all i
    labels = torch.tensor([3, 1, 4, 1])
    stacked, modes = stack_channels(images, labels, 6, seed=0)
    assert stacked.shape == (6, 3, 2, 2)
    for x, mode in zip(stacked, modes):
        picked = x[:, 0, 0].long()  # which image went into each channel
        assert mode == labels[picked[0]] * 100 + labels[picked[1]] * 10 + labels[picked[2]]
