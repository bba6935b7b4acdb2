"""captioner: live captions in lock-step with realtime voice audio."""
