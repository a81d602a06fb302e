"""The lifecycle around a model: training pipelines, batch scoring and the engines that run them."""
