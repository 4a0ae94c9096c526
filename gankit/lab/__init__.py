"""The seed's theory as experiments: divergences, vanishing gradients, mode collapse (`gankit lab`)."""
