"""Operations on a live AWS account with boto3: the state-backend bootstrap and post-deploy verify."""
