#include "apps/qml-client/sync/server_directory.h"

#include <gtest/gtest.h>

#include <QDir>
#include <QFile>
#include <QTemporaryDir>

namespace profiles::client {
namespace {

TEST(ServerDirectory, TheFirstDatabaseKeepsTheDataFolderAndOthersGetTheirOwn) {
  QTemporaryDir data;
  ASSERT_TRUE(data.isValid());
  absl::StatusOr<ServerDirectory> directory = ServerDirectory::Load(data.path());
  ASSERT_TRUE(directory.ok()) << directory.status();
  // Nothing known yet: the data folder itself (where older versions kept
  // their only store).
  EXPECT_EQ(directory->FolderForAddress("a:1"), data.path());

  EXPECT_TRUE(directory->Remember("a:1", "111-5"));
  EXPECT_FALSE(directory->Remember("a:1", "111-5")) << "nothing new: no need to save";
  EXPECT_TRUE(directory->Remember("b:2", "222-5"));
  EXPECT_EQ(directory->FolderForDatabase("111-5"), data.path());
  EXPECT_EQ(directory->FolderForDatabase("222-5"), QDir(data.path()).filePath("servers/222-5"));
  ASSERT_TRUE(directory->Save().ok());

  absl::StatusOr<ServerDirectory> loaded = ServerDirectory::Load(data.path());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->FolderForAddress("a:1"), data.path());
  EXPECT_EQ(loaded->FolderForAddress("b:2"), QDir(data.path()).filePath("servers/222-5"));
  // An address never reached opens the store used last.
  EXPECT_EQ(loaded->FolderForAddress("c:3"), QDir(data.path()).filePath("servers/222-5"));
}

TEST(ServerDirectory, AnUnreadableListIsAnErrorNotAnEmptyList) {
  QTemporaryDir data;
  ASSERT_TRUE(data.isValid());
  QFile file(QDir(data.path()).filePath("servers.json"));
  ASSERT_TRUE(file.open(QIODevice::WriteOnly));
  file.write("{not json");
  file.close();
  absl::StatusOr<ServerDirectory> directory = ServerDirectory::Load(data.path());
  EXPECT_EQ(directory.status().code(), absl::StatusCode::kInternal);
  EXPECT_NE(directory.status().message().find("servers.json"), absl::string_view::npos);
}

}  // namespace
}  // namespace profiles::client
