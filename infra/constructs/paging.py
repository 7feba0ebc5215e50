"""AlarmTopic: the one SNS topic of a region that pages people, built from the environment's one
`notifications` setting (CloudWatch alarms can only act on a topic in their own region), and
`notify`, which gives an alarm both its ALARM and its OK action (a page is always followed by its
all-clear)."""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_chatbot as chatbot
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subs
from constructs import Construct

from infra.config import Notifications


def topic_name(env_name: str) -> str:
    """Fixed per environment and region: the edge stack reuses the us-east-1 gateway's topic."""
    return f"switchboard-{env_name}-alarms"


class AlarmTopic(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, env_name: str, notifications: Notifications
    ) -> None:
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(
            self,
            "Topic",
            topic_name=topic_name(env_name),
            display_name=f"Switchboard {env_name} alarms",
            enforce_ssl=True,
        )
        for email in notifications.emails:
            self.topic.add_subscription(subs.EmailSubscription(email))
        for url in notifications.https:
            # PagerDuty / Opsgenie: raw delivery off, the endpoint parses SNS's JSON envelope
            self.topic.add_subscription(subs.UrlSubscription(url, protocol=sns.SubscriptionProtocol.HTTPS))
        if notifications.slack is not None:
            region = Stack.of(self).region
            chatbot.SlackChannelConfiguration(
                self,
                "Slack",
                slack_channel_configuration_name=f"switchboard-{env_name}-{region}",
                slack_workspace_id=notifications.slack.workspace_id,
                slack_channel_id=notifications.slack.channel_id,
                notification_topics=[self.topic],
            )


def existing_topic(scope: Construct, construct_id: str, env_name: str) -> sns.ITopic:
    """The topic another stack of the same region created (by its fixed name)."""
    stack = Stack.of(scope)
    arn = stack.format_arn(service="sns", resource=topic_name(env_name))
    return sns.Topic.from_topic_arn(scope, construct_id, arn)


def notify(alarm: cw.AlarmBase, topic: sns.ITopic | None) -> None:
    """ALARM and OK actions to the region's topic."""
    if topic is None:
        return
    action = cw_actions.SnsAction(topic)
    alarm.add_alarm_action(action)
    alarm.add_ok_action(action)
